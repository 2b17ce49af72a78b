CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, old_code TEXT);
INSERT INTO items VALUES (1, 'alpha', 'A1');
