module scalability-gate/benches/peer

go 1.19
