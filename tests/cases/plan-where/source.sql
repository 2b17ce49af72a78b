CREATE TABLE events(id INTEGER PRIMARY KEY, kind TEXT, deleted_at TEXT);
INSERT INTO events VALUES (1, 'a', NULL), (2, 'b', '2024-01-01'), (3, 'c', NULL), (4, NULL, NULL), (5, 'e', '2024-02-02'), (6, 'f', NULL);
CREATE TABLE other(id INTEGER PRIMARY KEY);
INSERT INTO other VALUES (1), (2);
