SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'ferry_%' AND name NOT LIKE 'sqlite_%' ORDER BY name;
SELECT group_concat(name, '|') FROM pragma_table_info('my table');
SELECT "the id", "say ""hi""", typeof("say ""hi"""), "a.b", typeof("a.b"), "[x]", "`y`", "semi;colon", " lead" FROM "my table" ORDER BY 1;
SELECT "x""y" FROM "quo""te";
SELECT "o'k" FROM "it's";
SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL;
