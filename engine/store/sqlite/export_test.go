package sqlite

// SetGroupInGo switches the hash aggregate on or off, so a test can
// compare it with SQLite's GROUP BY.
func SetGroupInGo(on bool) { groupInGo = on }

// HashAggregates counts the group-bys the hash aggregate answered.
func HashAggregates() int64 { return hashRuns.Load() }

// ForgetAggregates drops the kept aggregates of entity, as a write does.
func ForgetAggregates(s *Store, entity string) { s.aggs.wrote(entity) }

// SharedPasses counts the hash passes that answered several aggregates.
func SharedPasses() int64 { return sharedPasses.Load() }
