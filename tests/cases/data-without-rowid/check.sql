SELECT name, sql LIKE '%WITHOUT ROWID%' FROM sqlite_schema WHERE name IN ('kv', 'pair') ORDER BY name;
SELECT k, typeof(k), quote(v), typeof(v), n, typeof(n) FROM kv ORDER BY k;
SELECT x, y FROM pair ORDER BY y, x;
ATTACH 'source.db' AS s;
SELECT count(*) FROM (SELECT * FROM s.kv EXCEPT SELECT * FROM main.kv);
