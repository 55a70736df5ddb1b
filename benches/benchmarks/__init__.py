"""asv benchmarks for riskguard; see ../asv.conf.json."""
