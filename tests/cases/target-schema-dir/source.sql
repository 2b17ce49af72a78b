CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, price INTEGER);
INSERT INTO items VALUES (1, 'alpha', 10), (2, 'beta', 20);
