CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, legacy_flags INTEGER);
INSERT INTO items VALUES (1, 'alpha', 7), (2, 'beta', NULL);
