package store_test

const helperEnv = "CREDENCE_STORE_TEST_HELPER"

func helperMain() int { return 2 }
