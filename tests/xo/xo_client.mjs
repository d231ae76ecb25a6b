// Xen Orchestra's client (npm `xen-api` v4) against xapid: connect, load
// the objects through its event loop, run VDI.copy with callAsync (its
// event-driven task watcher), and see the new VDI arrive by event.
// usage: node xo_client.mjs URL PASSWORD; prints one JSON line.
import { createClient } from 'xen-api'

const [url, password] = process.argv.slice(2)
const out = {}
const done = code => {
  console.log(JSON.stringify(out))
  process.exit(code)
}
setTimeout(() => {
  out.error = 'timeout'
  done(2)
}, 60000)

const xapi = createClient({ url, allowUnauthorized: true, auth: { user: 'root', password } })
try {
  await xapi.connect()
  out.status = xapi.status
  await xapi.objectsFetched
  const all = () => Object.values(xapi.objects.all)
  out.types = {}
  for (const o of all()) out.types[o.$type] = (out.types[o.$type] || 0) + 1
  const sr = all().find(o => o.$type === 'SR')
  const vdi = all().find(o => o.$type === 'VDI' && o.name_label === 'xo-source')
  out.poolMaster = xapi.pool?.master
  const copy = await xapi.callAsync('VDI.copy', vdi.$ref, sr.$ref)
  out.copy = copy
  let found
  for (let i = 0; i < 100 && found === undefined; i++) {
    found = all().find(o => o.$ref === copy)
    if (found === undefined) await new Promise(r => setTimeout(r, 100))
  }
  out.arrived = found !== undefined
  out.arrivedLabel = found?.name_label
  out.arrivedSize = found?.virtual_size
  await xapi.disconnect()
  done(out.arrived ? 0 : 1)
} catch (e) {
  out.error = String(e?.stack ?? e)
  done(1)
}
