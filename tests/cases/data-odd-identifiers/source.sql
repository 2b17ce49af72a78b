CREATE TABLE "my table"("the id" INTEGER PRIMARY KEY, "say ""hi""" TEXT, "a.b" INTEGER, "[x]" TEXT, "`y`" TEXT, "semi;colon" TEXT, " lead" TEXT);
INSERT INTO "my table" VALUES (1, 'hi', 2, 'x', 'y', 's', 'l'), (2, NULL, NULL, NULL, NULL, NULL, NULL);
CREATE TABLE "quo""te"("x""y" TEXT PRIMARY KEY);
INSERT INTO "quo""te" VALUES ('q"v');
CREATE TABLE "it's"("o'k" TEXT);
INSERT INTO "it's" VALUES ('it''s');
CREATE INDEX "idx ""odd"" name" ON "my table"("say ""hi""", "a.b");
