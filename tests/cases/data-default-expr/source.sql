CREATE TABLE events(id INTEGER PRIMARY KEY, kind TEXT NOT NULL DEFAULT 'click', at TEXT DEFAULT (datetime('now')), n INTEGER DEFAULT (1 + 1), f REAL DEFAULT -1.5, note TEXT DEFAULT NULL);
INSERT INTO events(id, kind, at, n, f, note) VALUES (1, 'view', '2024-01-01 00:00:00', 5, 0.5, 'x');
INSERT INTO events(id, at) VALUES (2, '2024-02-02 00:00:00');
