// One incremental step of Xen Orchestra's NBD+CBT backup path against
// xapid, with XO's own clients: npm `xen-api` for the calls and
// `@vates/nbd-client` for the data.
//   1. Async.VDI.list_changed_blocks(base, snapshot) through callAsync (the
//      task's result), base64-decoded;
//   2. XO's block selection: one 2 MiB block per 4 bytes of bitmap, read
//      with readUInt32BE (which throws unless the length is a multiple of 4);
//   3. VDI.get_nbd_info(snapshot), then a TCP client per record, with the
//      certificate (so STARTTLS) and NBD_OPT_EXPORT_NAME;
//   4. readBlock of every changed 2 MiB block, written at its offset into
//      OUT (a sparse file the caller compares with the snapshot's data).
// usage: node xo_backup.mjs URL PASSWORD BASE_UUID SNAPSHOT_UUID OUT
// prints one JSON line.
import { createClient } from 'xen-api'
import NbdClient from '@vates/nbd-client'
import { open } from 'node:fs/promises'

const BLOCK = 2 * 1024 * 1024
const [url, password, baseUuid, snapUuid, outPath] = process.argv.slice(2)
const out = {}
const done = code => {
  console.log(JSON.stringify(out))
  process.exit(code)
}
setTimeout(() => {
  out.error = 'timeout'
  done(2)
}, 90000)

const xapi = createClient({ url, allowUnauthorized: true, auth: { user: 'root', password } })
try {
  await xapi.connect()
  const base = await xapi.call('VDI.get_by_uuid', baseUuid)
  const snap = await xapi.call('VDI.get_by_uuid', snapUuid)
  out.baseType = await xapi.call('VDI.get_type', base)
  out.cbtEnabled = await xapi.call('VDI.get_cbt_enabled', snap)
  const b64 = await xapi.callAsync('VDI.list_changed_blocks', base, snap)
  const bitmap = Buffer.from(b64, 'base64')
  out.bitmapBytes = bitmap.length
  const blocks = []
  for (let i = 0; i < bitmap.length / 4; i++) {
    if (bitmap.readUInt32BE(i * 4) !== 0) blocks.push(i)
  }
  out.blocks = blocks
  const infos = await xapi.call('VDI.get_nbd_info', snap)
  out.nbdInfos = infos.length
  const info = infos[0]
  out.tls = info.cert !== ''
  const size = Number(await xapi.call('VDI.get_virtual_size', snap))
  const client = new NbdClient(info)
  await client.connect()
  out.exportSize = Number(client.exportSize)
  const fd = await open(outPath, 'w')
  let bytes = 0
  for (const index of blocks) {
    const len = Math.min(BLOCK, size - index * BLOCK)
    const data = await client.readBlock(index, BLOCK)
    await fd.write(data, 0, len, index * BLOCK)
    bytes += len
  }
  await fd.truncate(size)
  await fd.close()
  await client.disconnect()
  out.bytes = bytes
  await xapi.disconnect()
  done(0)
} catch (e) {
  out.error = String(e?.stack ?? e)
  done(1)
}
