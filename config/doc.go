// Package config is spillway's gateway configuration: the YAML schema, loading,
// defaults and validation. Validation reports every problem at once, each with
// the field path and a hint, so an operator fixes a file in one pass.
package config
