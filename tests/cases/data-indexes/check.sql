-- ferry writes its own DDL, so the sql text need not match the source's; these show which
-- indexes exist, what they cover (column, order, collation), and that they enforce.
SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'people' ORDER BY name;
SELECT il."unique", il.origin IN ('u', 'c'), il.partial, group_concat(coalesce(ix.name, '<expr>') || CASE ix.desc WHEN 1 THEN ' desc' ELSE '' END || ' ' || ix.coll, ',') AS cols FROM pragma_index_list('people') il JOIN pragma_index_xinfo(il.name) ix WHERE ix.key = 1 GROUP BY il.name ORDER BY cols;
SELECT name, type, "notnull" FROM pragma_table_info('people') ORDER BY cid;
-- code is COLLATE NOCASE: 'AB' equals 'ab' and the unique index refuses it.
SELECT count(*) FROM people WHERE code = 'AB';
INSERT OR IGNORE INTO people(id, code) VALUES (9, 'AB');
SELECT count(*) FROM people;
SELECT id, email, first, last, age, code FROM people ORDER BY id;
