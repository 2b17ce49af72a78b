CREATE TABLE people(id INTEGER PRIMARY KEY, email TEXT UNIQUE, first TEXT, last TEXT, age INTEGER, code TEXT COLLATE NOCASE UNIQUE, CONSTRAINT uq_name UNIQUE (first, last));
CREATE INDEX people_age ON people(age DESC);
CREATE UNIQUE INDEX people_lower_email ON people(lower(email));
CREATE INDEX people_adults ON people(last) WHERE age >= 18;
CREATE INDEX people_last_nocase ON people(last COLLATE NOCASE, first);
INSERT INTO people VALUES (1, 'a@x', 'ann', 'lee', 30, 'ab'), (2, 'b@x', 'bob', 'lee', 12, 'cd'), (3, NULL, 'cy', NULL, NULL, NULL);
