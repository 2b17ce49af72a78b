CREATE TABLE content_items(id INTEGER PRIMARY KEY, name TEXT, qty INTEGER);
INSERT INTO content_items VALUES (1, 'alpha', 10), (2, 'beta', NULL), (3, '', 0);
