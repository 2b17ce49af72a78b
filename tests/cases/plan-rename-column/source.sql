CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, kind TEXT, price INTEGER);
INSERT INTO items VALUES (1, 'alpha', 'book', 100), (2, 'beta', NULL, 250), (3, NULL, 'film', NULL);
