CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT);
INSERT INTO items VALUES (1, 'alpha');
CREATE TABLE sessions(id INTEGER PRIMARY KEY, token TEXT);
INSERT INTO sessions VALUES (1, 'secret'), (2, 'other');
