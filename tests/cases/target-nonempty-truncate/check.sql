-- --truncate empties items before loading.
SELECT id, name, typeof(name) FROM items ORDER BY id;
SELECT t FROM tags ORDER BY t;
