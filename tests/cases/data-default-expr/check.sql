-- The created table keeps every column DEFAULT: the column list is what pragma table_info
-- reports, and a row inserted with only its key takes them.
SELECT name, type, "notnull", dflt_value FROM pragma_table_info('events') ORDER BY cid;
SELECT id, kind, at, typeof(at), n, typeof(n), f, typeof(f), note FROM events ORDER BY id;
INSERT INTO events(id) VALUES (3);
SELECT id, kind, at IS NOT NULL AND at >= '2024', n, typeof(n), f, note FROM events WHERE id = 3;
