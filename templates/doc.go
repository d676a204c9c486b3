// Package templates will hold industry template bundles (B2B sales, real
// estate, education, retail membership, service desk) as embedded metadata,
// and the installer: plan, install, three-way-merge upgrade, uninstall.
package templates
