SELECT id, w, typeof(w), length(w), hex(w) FROM words ORDER BY id;
SELECT clé, "値", typeof("値") FROM "données" ORDER BY "値";
ATTACH 'source.db' AS s;
SELECT count(*) FROM (SELECT id, hex(w) FROM s.words EXCEPT SELECT id, hex(w) FROM main.words);
