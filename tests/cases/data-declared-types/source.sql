-- Declared types decide SQLite's affinity; the created table must keep each column's
-- affinity, or stored values would change type (an epoch in a DATETIME column turned to text).
CREATE TABLE t(id INTEGER PRIMARY KEY, a VARCHAR(10), b DECIMAL(10,2), c DATETIME, d JSON, e "my type", f INT UNSIGNED, g BOOLEAN, h FLOATING POINT, i CHARINT, j DOUBLE PRECISION, k BLOB, l NUMERIC, m STRING, n);
INSERT INTO t VALUES (1, 12, '1.50', 1700000000, '{"a":1}', 5, 7, 1, 2.5, 'x', 3, 1, '012', '012', '012');
INSERT INTO t VALUES (2, 'a', 'x', '2024-01-01', 12, 'q', 'w', 'true', 'f', 7, 'y', 'z', 'n', 'm', 1.0);
