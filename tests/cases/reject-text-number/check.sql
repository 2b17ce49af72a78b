-- Refused, as their value would change: code '012' (-> 12), ' 7' (-> 7), '1e3' (-> 1000),
-- '-0' (-> 0), '+5' (-> 5); price '1.50' (-> 1.5) and '1e2' (-> 100.0). Text that is not a
-- number ('abc', '', 'n/a') passes unchanged; '12', '-12', '1.5', '-0.5' are the plain forms
-- of their numbers and land as numbers.
SELECT id, code, typeof(code), price, typeof(price) FROM codes ORDER BY id;
