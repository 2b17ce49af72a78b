-- --append beside a row with the same key: that source row is refused (the old row stays,
-- nothing is overwritten), the others land.
SELECT id, name, typeof(name) FROM items ORDER BY id;
