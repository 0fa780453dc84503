// Package proto holds the payload parsers and small per-flow trackers that
// sfbtrace's flow table calls for every packet.
package proto
