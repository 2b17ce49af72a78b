-- Every row is written; two point at no parent and the summary counts them (exit 3).
SELECT id, parent_id FROM child ORDER BY id;
SELECT "table", rowid, parent FROM pragma_foreign_key_check ORDER BY rowid;
