-- items already holds rows: without --truncate or --append nothing is loaded.
SELECT id, name FROM items ORDER BY id;
SELECT count(*) FROM tags;
