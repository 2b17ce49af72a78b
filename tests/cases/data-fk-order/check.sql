SELECT id, parent_id, typeof(parent_id), note FROM a_child ORDER BY id;
SELECT id, name FROM z_parent ORDER BY id;
SELECT id, name, manager_id, typeof(manager_id) FROM employee ORDER BY id;
SELECT "table", "from" FROM pragma_foreign_key_list('a_child');
SELECT "table", "from" FROM pragma_foreign_key_list('employee');
SELECT count(*) FROM pragma_foreign_key_check;
