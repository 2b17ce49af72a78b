CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, price TEXT);
INSERT INTO items VALUES (1, 'alpha', '10'), (2, 'beta', '2.5'), (3, 'gamma', 'n/a');
