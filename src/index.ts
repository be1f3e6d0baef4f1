import { keepHeapClose } from './engine/heap.js'
import { run } from './main.js'

keepHeapClose()
await run()
