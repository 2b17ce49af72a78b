CREATE TABLE "user"(id INTEGER PRIMARY KEY, "select" TEXT, "from" INTEGER, "where" TEXT);
INSERT INTO "user" VALUES (1, 'a', 2, 'w'), (2, NULL, NULL, '');
CREATE TABLE "order"("order" INTEGER PRIMARY KEY, "user" INTEGER REFERENCES "user"(id), "references" TEXT, "group" TEXT);
INSERT INTO "order" VALUES (10, 1, 'r1', 'g'), (11, 2, NULL, NULL);
CREATE TABLE "references"("table" TEXT, "index" INTEGER);
INSERT INTO "references" VALUES ('t', 1);
CREATE TABLE "select"("key" TEXT PRIMARY KEY, "values" TEXT);
INSERT INTO "select" VALUES ('k', 'v');
CREATE INDEX "index" ON "order"("group", "references");
