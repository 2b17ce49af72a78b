CREATE TABLE words(id INTEGER PRIMARY KEY, w TEXT);
INSERT INTO words VALUES
  (1, 'café crème naïve Ærø'),
  (2, '東京都 漢字 한국어'),
  (3, '😀 🇫🇷 👩‍👩‍👧'),
  (4, 'שלום עולם مرحبا'),
  (5, 'e' || char(769) || ' vs ' || char(233)),
  (6, char(65279) || 'bom');
CREATE TABLE "données"(clé TEXT PRIMARY KEY, "値" INTEGER);
INSERT INTO "données" VALUES ('été', 1), ('冬', 2);
