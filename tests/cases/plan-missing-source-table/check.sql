-- A plan mistake changes nothing: the target holds only what it held.
SELECT name FROM sqlite_schema WHERE name NOT LIKE 'ferry_%' AND name NOT LIKE 'sqlite_%' ORDER BY name;
