CREATE TABLE log(a INTEGER, b TEXT);
INSERT INTO log VALUES (1, 'x'), (1, 'x'), (1, 'x'), (2, NULL), (2, NULL), (NULL, NULL), (NULL, NULL), (3, 'y');
