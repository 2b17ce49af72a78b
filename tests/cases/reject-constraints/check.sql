-- Row 2 breaks NOT NULL, row 3 UNIQUE, row 4 CHECK: each is refused with its reason, the
-- others land.
SELECT id, email, name, age, typeof(age) FROM people ORDER BY id;
