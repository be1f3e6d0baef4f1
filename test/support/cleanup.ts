import { removeRunDirs } from './action.js'

// Registered for every test file (jest setupFilesAfterEnv): the action runs' temp folders go.
afterAll(() => removeRunDirs())
