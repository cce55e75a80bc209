// Starts dynalite on 127.0.0.1 at a free port chosen by the OS (dynalite's own CLI treats
// --port 0 as "use the default 4567") and prints "listening PORT" once it accepts connections.
// Tables become ACTIVE at once: the benchmarks and tests create them and use them immediately.
'use strict'
const dynalite = require('dynalite')

const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`)
})
const stop = () => server.close(() => process.exit(0))
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
