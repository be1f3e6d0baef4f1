import { keepHeapClose } from './heap.js'
import { run } from './main.js'

keepHeapClose()
await run()
