-- The generated columns exist in the created table (hidden 2 = virtual, 3 = stored) and
-- their values are computed by the target, not copied. SELECT * (not the names) so the
-- output still shows what is there when a column is missing; quote mode shows the types.
SELECT name, type, hidden FROM pragma_table_xinfo('items') ORDER BY cid;
SELECT * FROM items ORDER BY id;
UPDATE items SET qty = 100, name = 'new' WHERE id = 1;
SELECT * FROM items WHERE id = 1;
