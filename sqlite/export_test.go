package sqlite

// WithLogAll is withLogAll for the package's external tests.
var WithLogAll = withLogAll
