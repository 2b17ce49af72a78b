SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'ferry_%' AND name NOT LIKE 'sqlite_%' ORDER BY name;
SELECT id, typeof(id), name, typeof(name), qty, typeof(qty) FROM items ORDER BY id;
