ATTACH 'source.db' AS s;
SELECT 'gaps', (SELECT count(*) FROM main.gaps), (SELECT count(*) FROM (SELECT * FROM s.gaps EXCEPT SELECT * FROM main.gaps));
SELECT 'nullkey', (SELECT count(*) FROM main.nullkey), (SELECT count(*) FROM (SELECT k, typeof(k), v FROM s.nullkey EXCEPT SELECT k, typeof(k), v FROM main.nullkey));
SELECT 'wr', (SELECT count(*) FROM main.wr), (SELECT count(*) FROM (SELECT a, b, c, typeof(c) FROM s.wr EXCEPT SELECT a, b, c, typeof(c) FROM main.wr));
SELECT 'wrmixed', (SELECT count(*) FROM main.wrmixed), (SELECT count(*) FROM (SELECT k, typeof(k), v FROM s.wrmixed EXCEPT SELECT k, typeof(k), v FROM main.wrmixed));
SELECT 'dups', a, b, count(*) FROM main.dups GROUP BY a, b ORDER BY a;
SELECT k, typeof(k), v FROM main.nullkey ORDER BY v;
SELECT k, typeof(k), v FROM main.wrmixed ORDER BY k;
