CREATE TABLE machines(id INTEGER PRIMARY KEY, serial TEXT, sales INTEGER);
INSERT INTO machines VALUES (1, 'S-1', 10), (2, 'S-2', 20), (3, 'S-3', 30);
