SELECT id, trials, typeof(trials), peak, typeof(peak), label, updated, sales, typeof(sales), revenue, typeof(revenue) FROM machines ORDER BY id;
