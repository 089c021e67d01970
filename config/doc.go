// Package config owns holdfast's configuration file: the typed settings every
// other package receives, their defaults, the YAML file format with ${ENV}
// expansion, and Validate, which names the first bad key and says why.
//
// The order is always the same (STYLE.md rule 8): Default, then the file
// (Load or LoadBytes decode onto Default), then command-line overrides, then
// Validate and Resolve. Packages get a valid Config or parts of it, never the
// raw file.
//
// Besides the structs this package defines the value types the file uses:
// Size ("16MiB", "100MB"), Duration ("30s", "90d") and Period, a calendar
// retention length ("7y", "1y6mo", "forever").
package config
