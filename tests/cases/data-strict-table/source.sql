CREATE TABLE s(id INTEGER PRIMARY KEY, i INT, r REAL, t TEXT, b BLOB, a ANY) STRICT;
INSERT INTO s VALUES (1, 42, 1.5, '012', x'01', '012'), (2, NULL, 3, 'x', NULL, 7), (3, -1, NULL, NULL, x'', x'00'), (4, 0, 0.0, '', x'ff', 2.5);
