SELECT id, "select", typeof("select"), "from", typeof("from"), "where" FROM "user" ORDER BY id;
SELECT "order", "user", typeof("user"), "references", "group" FROM "order" ORDER BY "order";
SELECT "table", "index", typeof("index") FROM "references";
SELECT "key", "values" FROM "select";
SELECT name, tbl_name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name;
SELECT count(*) FROM pragma_foreign_key_check;
