CREATE TABLE machines(id INTEGER PRIMARY KEY, serial TEXT, sales INTEGER);
INSERT INTO machines VALUES (1, 'S-1', 1), (2, 'S-2-other', 2), (4, 'S-4', 4);
