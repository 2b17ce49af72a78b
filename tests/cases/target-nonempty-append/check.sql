-- --append loads beside the rows already there.
SELECT id, name, typeof(name) FROM items ORDER BY id;
SELECT t FROM tags ORDER BY t;
