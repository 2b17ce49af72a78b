SELECT type, name, sql FROM sqlite_schema WHERE name NOT LIKE 'ferry_%' AND name NOT LIKE 'sqlite_%' ORDER BY type, name;
SELECT id, name, price, typeof(price) FROM items ORDER BY id;
